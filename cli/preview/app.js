// cng preview page: every layer's PMTiles (vector tiles through the pmtiles:// protocol) and its
// H3 hex cells in view (/api/hex, refreshed on moveend), a layer switcher and attribute popups.
// Plain browser ESM; MapLibre GL JS and pmtiles are the UMD builds from node_modules
// (globals `maplibregl` and `pmtiles`). Nothing is loaded from anywhere but this server.

const { maplibregl, pmtiles } = window;
const COLORS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#1f78b4'];
const BACKGROUND = '#f2efe9';

const panel = document.getElementById('layers');
const status = document.getElementById('status');

/** What tests (and curious people in the console) can look at: window.__preview. */
const state = { map: null, layers: [], hex: {}, errors: [], settled };
window.__preview = state;

const protocol = new pmtiles.Protocol({ metadata: true });
maplibregl.addProtocol('pmtiles', protocol.tile);

let layers;
try {
  const res = await fetch('/api/layers');
  if (!res.ok) throw new Error(`/api/layers: HTTP ${res.status}`);
  ({ layers } = await res.json());
} catch (err) {
  panel.innerHTML = '';
  panel.append(el('p', { className: 'muted' }, `Cannot load the layers: ${err.message}`));
  throw err;
}
state.layers = layers;

const bounds = unionBounds(layers.map((l) => l.bounds).filter(Boolean));
const map = new maplibregl.Map({
  container: 'map',
  style: {
    version: 8,
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': BACKGROUND } }],
  },
  ...(bounds ? { bounds, fitBoundsOptions: { padding: 40, maxZoom: 14 } } : { center: [0, 0], zoom: 1 }),
  maxZoom: 20,
  attributionControl: false,
  // Lets tests (and screenshots) read the canvas back.
  canvasContextAttributes: { preserveDrawingBuffer: true },
});
state.map = map;
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
map.addControl(new maplibregl.ScaleControl(), 'bottom-left');

await new Promise((resolve) => map.on('load', resolve));

const ids = (name) => ({
  tiles: [`tiles:${name}:fill`, `tiles:${name}:line`, `tiles:${name}:point`],
  hex: [`hex:${name}:fill`, `hex:${name}:line`],
});

// Hex overlays below every layer's tiles.
layers.forEach((layer, i) => {
  if (!layer.hex) return;
  const color = COLORS[i % COLORS.length];
  const [fill, line] = ids(layer.name).hex;
  map.addSource(`hex:${layer.name}`, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  map.addLayer({
    id: fill,
    type: 'fill',
    source: `hex:${layer.name}`,
    paint: {
      'fill-color': color,
      // Aggregated cells: opacity by the share of the cell covered at the layer's resolution.
      'fill-opacity': ['interpolate', ['linear'], ['coalesce', ['get', 'fraction'], 1], 0, 0.25, 1, 0.55],
    },
  });
  map.addLayer({ id: line, type: 'line', source: `hex:${layer.name}`, paint: { 'line-color': color, 'line-width': 0.6, 'line-opacity': 0.8 } });
  state.hex[layer.name] = { pending: null, cells: 0, resolution: null, capped: false, visible: true };
});
layers.forEach((layer, i) => {
  if (!layer.pmtiles) return;
  const color = COLORS[i % COLORS.length];
  const [fill, line, point] = ids(layer.name).tiles;
  const source = `tiles:${layer.name}`;
  map.addSource(source, { type: 'vector', url: `pmtiles://${location.origin}${layer.pmtiles}` });
  const common = { source, 'source-layer': layer.vectorLayer };
  map.addLayer({ id: fill, type: 'fill', ...common, filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': color, 'fill-opacity': 0.45 } });
  map.addLayer({ id: line, type: 'line', ...common, filter: ['!=', ['geometry-type'], 'Point'], paint: { 'line-color': color, 'line-width': 1.5 } });
  map.addLayer({
    id: point,
    type: 'circle',
    ...common,
    filter: ['==', ['geometry-type'], 'Point'],
    paint: { 'circle-color': color, 'circle-radius': 4, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 },
  });
});

buildSwitcher();
map.on('moveend', () => refreshHex());
map.on('click', showPopup);
map.on('mousemove', (e) => {
  map.getCanvas().style.cursor = featuresAt(e.point).length ? 'pointer' : '';
});
map.on('error', (e) => {
  state.errors.push(String(e.error?.message ?? e.error));
  console.error('map error:', e.error?.message ?? e.error);
});
refreshHex();

// ---------------------------------------------------------------------------------------------

function buildSwitcher() {
  panel.innerHTML = '';
  if (!layers.length) panel.append(el('p', { className: 'muted' }, 'No layers.'));
  layers.forEach((layer, i) => {
    const color = COLORS[i % COLORS.length];
    const box = el('div', { className: 'layer' });
    box.dataset.layer = layer.name;
    const name = el('div', { className: 'name' }, el('span', { className: 'swatch', style: `background:${color}` }), layer.name);
    box.append(name);
    const counts = [];
    if (layer.hex?.features != null) counts.push(`${layer.hex.features.toLocaleString()} features`);
    if (layer.hex?.cells != null) counts.push(`${layer.hex.cells.toLocaleString()} cells`);
    if (counts.length) box.append(el('div', { className: 'muted' }, counts.join(' · ')));
    if (layer.pmtiles) box.append(toggle(`toggle-tiles-${layer.name}`, 'tiles (PMTiles)', (on) => setVisible(ids(layer.name).tiles, on)));
    if (layer.hex) {
      const label = `hex cells (H3 res ${layer.hex.resolution})`;
      box.append(
        toggle(`toggle-hex-${layer.name}`, label, (on) => {
          state.hex[layer.name].visible = on;
          setVisible(ids(layer.name).hex, on);
          if (on) refreshHex(layer.name);
        }),
      );
      box.append(el('div', { className: 'muted hex-status', id: `hex-status-${layer.name}` }));
    }
    panel.append(box);
  });
}

function toggle(id, text, onChange) {
  const input = el('input', { type: 'checkbox', id, checked: true });
  input.addEventListener('change', () => onChange(input.checked));
  return el('label', { htmlFor: id }, input, ` ${text}`);
}

function setVisible(layerIds, on) {
  for (const id of layerIds) if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
}

/** Fetches the hex cells in view for every visible hex overlay (or one), aborting stale requests. */
function refreshHex(only) {
  const b = map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(',');
  const zoom = map.getZoom().toFixed(2);
  for (const layer of layers) {
    const h = state.hex[layer.name];
    if (!h || !h.visible || (only && only !== layer.name)) continue;
    h.controller?.abort();
    const controller = new AbortController();
    h.controller = controller;
    const url = `/api/hex?layer=${encodeURIComponent(layer.name)}&bbox=${bbox}&zoom=${zoom}`;
    h.pending = fetch(url, { signal: controller.signal })
      .then(async (res) => {
        const body = await res.json();
        if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
        map.getSource(`hex:${layer.name}`).setData(body);
        if (layer.hex.raster) {
          h.ramp = rasterFill(layer.hex.raster, body.features);
          map.setPaintProperty(ids(layer.name).hex[0], 'fill-color', h.ramp.expression);
          map.setPaintProperty(ids(layer.name).hex[0], 'fill-opacity', ['interpolate', ['linear'], ['coalesce', ['get', 'coverage'], 1], 0, 0.3, 1, 0.8]);
        }
        Object.assign(h, { cells: body.features.length, resolution: body.resolution, capped: body.capped });
        const note = `${body.features.length.toLocaleString()} cells in view at res ${body.resolution}` + (body.capped ? ` (capped at ${body.limit.toLocaleString()})` : '');
        const line = document.getElementById(`hex-status-${layer.name}`);
        if (line) line.textContent = note;
      })
      .catch((err) => {
        if (err.name === 'AbortError') return;
        state.errors.push(err.message);
        console.error(`hex ${layer.name}:`, err.message);
      })
      .finally(() => {
        if (h.controller === controller) h.pending = null;
      });
  }
  status.textContent = `zoom ${Number(zoom).toFixed(1)}`;
}

/** Resolves when no hex request is pending and the map has rendered everything (tiles included). */
async function settled() {
  for (;;) {
    const pending = Object.values(state.hex).map((h) => h.pending).filter(Boolean);
    if (pending.length) {
      await Promise.all(pending);
      continue;
    }
    await new Promise((resolve) => {
      map.once('idle', resolve);
      map.triggerRepaint();
    });
    if (!Object.values(state.hex).some((h) => h.pending) && map.loaded() && map.areTilesLoaded()) return;
  }
}

function visibleLayerIds() {
  const out = [];
  for (const layer of layers) for (const id of [...ids(layer.name).hex, ...ids(layer.name).tiles]) {
    if (map.getLayer(id) && map.getLayoutProperty(id, 'visibility') !== 'none') out.push(id);
  }
  return out;
}

function featuresAt(point) {
  const box = [[point.x - 3, point.y - 3], [point.x + 3, point.y + 3]];
  return map.queryRenderedFeatures(box, { layers: visibleLayerIds() });
}

/**
 * Fill colour of a raster's hex cells: classes by a fixed palette (categorical); values by a
 * viridis-like ramp over the cells in view (continuous, count: coarser cells hold sums or means
 * of finer ones, so the range is that of the answer, not the manifest's).
 */
function rasterFill(raster, features) {
  if (raster.valueKind === 'categorical') {
    const classes = [...new Set([...raster.classes, ...features.map((f) => f.properties.class)])].filter((c) => c !== null).sort((a, b) => a - b);
    const expression = classes.length ? ['match', ['get', 'class'], ...classes.flatMap((c, i) => [c, COLORS[i % COLORS.length]]), '#999999'] : '#999999';
    return { expression, classes };
  }
  const column = raster.columns[0];
  const values = features.map((f) => f.properties[column]).filter((v) => typeof v === 'number' && Number.isFinite(v));
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const ramp = ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'];
  const stops = hi > lo ? ramp.flatMap((c, i) => [lo + ((hi - lo) * i) / (ramp.length - 1), c]) : null;
  const expression = stops ? ['interpolate', ['linear'], ['coalesce', ['get', column], lo], ...stops] : ramp[2];
  return { expression, column, range: [lo, hi] };
}

/** A popup listing the top feature of each layer under the click (tiles first, then hex cells). */
function showPopup(e) {
  const seen = new Set();
  const picked = [];
  for (const f of featuresAt(e.point)) {
    const key = f.layer.id.replace(/:(fill|line|point)$/, '');
    if (seen.has(key)) continue;
    seen.add(key);
    picked.push([key, f]);
  }
  if (!picked.length) return;
  picked.sort((a, b) => (a[0].startsWith('tiles:') ? 0 : 1) - (b[0].startsWith('tiles:') ? 0 : 1));
  const root = el('div', { className: 'popup' });
  for (const [key, f] of picked) {
    const [kind, name] = key.split(':');
    root.append(el('h2', {}, `${name} — ${kind === 'tiles' ? 'feature' : 'hex cell'}`));
    const table = el('table');
    for (const [k, v] of Object.entries(f.properties)) table.append(el('tr', {}, el('th', {}, k), el('td', {}, v === null ? '' : String(v))));
    root.append(table);
  }
  new maplibregl.Popup({ maxWidth: '360px' }).setLngLat(e.lngLat).setDOMContent(root).addTo(map);
}

function unionBounds(list) {
  if (!list.length) return null;
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [w, s, e, n] of list) {
    b[0] = Math.min(b[0], w);
    b[1] = Math.min(b[1], s);
    b[2] = Math.max(b[2], e);
    b[3] = Math.max(b[3], n);
  }
  const lat = 85.0511;
  return [[Math.max(-180, b[0]), Math.max(-lat, b[1])], [Math.min(180, b[2]), Math.min(lat, b[3])]];
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  if (props.style) node.setAttribute('style', props.style);
  for (const c of children) node.append(c);
  return node;
}
