/**
 * `cng preview <DIR|dataset>`: serves a local map of a run's products (server.ts) until Ctrl-C or
 * SIGTERM.
 */
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { str, type Command } from '../../worker/core/command.ts';
import { plural } from '../../worker/core/text.ts';
import { flagOptions } from '../local/command-options.ts';
import { HEX_CELL_LIMIT } from './hex-query.ts';
import { isDir } from './products.ts';
import { startPreviewServer } from './server.ts';

export const previewCommand: Command = {
  name: 'preview',
  summary: 'a local map of a run\'s PMTiles and hex cells (cng local output or a dataset)',
  help: `Usage: cng preview <DIR|dataset> [--port P] [--host 127.0.0.1] [--data-dir data]

Serves a local web page (MapLibre GL JS and the PMTiles reader from node_modules, no external
requests, no basemap) showing each layer's vector tiles and its H3 hex cells at the current view,
with a layer switcher and attribute popups (click a feature).
  DIR       a \`cng local\` output directory: DIR/<layer>.pmtiles, DIR/<layer>/hex/, manifest.json
  dataset   a dataset in dist/: its outputs in the directory store, <data-dir>/store/<bucket>/<key>
            (as \`cng run <dataset>\` writes them)
An argument that is an existing directory is DIR; anything else is a dataset name.
Hex cells are shown at the layer's resolution when zoomed in, else aggregated to a coarser
resolution (count = cells at the layer's resolution, per feature); at most ${HEX_CELL_LIMIT.toLocaleString('en-US')} cells per view.
Raster hex products (from \`cng local <raster>\` or a raster dataset) are coloured by value (a ramp
over the cells in view) or by class; zoomed out, count cells add up, continuous cells average
(weighted by coverage) and class cells show the most frequent class.
Stop with Ctrl-C.

Options:
  --port P         port to listen on (default 8000; 0 = any free port)
  --host ADDR      address to listen on (default 127.0.0.1)
  --data-dir DIR   local data directory of \`cng run\` (default: data)
  -h, --help       show this help

Exit status: 0 stopped by Ctrl-C/SIGTERM, 1 nothing to show or cannot listen, 2 usage error.

Examples:
  cng local parks.gpkg --out out/parks && cng preview out/parks
  cng run padus-4-1 --sample && cng preview padus-4-1 --port 8080`,
  options: flagOptions(['port', 'host', 'data-dir']),
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('expected one directory or dataset name');
    const [target] = positionals;
    const port = values.port === undefined ? 8000 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0–65535, got '${values.port}'`);
    const isDirectory = isDir(target);
    if (!isDirectory && /[/\\]/.test(target)) throw new CommandError(`no directory '${target}'`);
    const server = await startPreviewServer({
      ...(isDirectory ? { dir: target } : { dataset: target }),
      dataDir: str(values['data-dir']),
      port,
      host: str(values.host),
    });
    const summary = server.layers.map((l) => `${l.name}${l.pmtiles ? '' : ' (no pmtiles)'}${l.hex ? '' : ' (no hex)'}`).join(', ');
    process.stdout.write(`cng preview: ${plural(server.layers.length, 'layer')}: ${summary}\n`);
    process.stdout.write(`cng preview: serving ${server.url}  (Ctrl-C to stop)\n`);
    await new Promise<void>((ok) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        ok();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    process.stderr.write('cng preview: stopping\n');
    await server.close();
    return EXIT.ok;
  },
};
