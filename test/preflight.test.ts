/**
 * `cng preflight` and the pods that cannot start (issue 13, item 1), against the recorded-objects
 * stand-in for the Kubernetes API (./k8s-fake.ts) that `cng status` is tested with: secrets and
 * their keys, the priority class, the tenant ServiceAccount, quota headroom and the image, one line
 * each with a meaningful exit code; `cng status` and `cng doctor` naming the fix for
 * CreateContainerConfigError, ErrImagePull and ImagePullBackOff.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterProfile } from '../constructs/index.ts';
import { padus41 } from '../datasets/padus-4-1.ts';
import { classifyPod, podStartFix } from '../cli/cluster/classify.ts';
import { connectCluster } from '../cli/cluster/k8s.ts';
import { preflight } from '../cli/cluster/preflight.ts';
import { MIRRORED, ROOT } from './helpers.ts';
import { kubeconfig, loadFixtures, run, startFakeApi, type FakeApi } from './k8s-fake.ts';

let dir: string;
const servers: FakeApi[] = [];
/** A fake API over the recorded cluster, changed by `edit`; its kubeconfig's environment. */
async function cluster(edit: (fx: Record<string, any>) => void = () => {}): Promise<NodeJS.ProcessEnv> {
  const fx = loadFixtures();
  edit(fx);
  const api = await startFakeApi(fx);
  servers.push(api);
  return { KUBECONFIG: kubeconfig(mkdtempSync(join(dir, 'kc-')), api.url) };
}
const cli = (args: string[], env: NodeJS.ProcessEnv) => run(args, { cwd: ROOT, env });

beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'cng-preflight-'))));
afterAll(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('cng preflight', () => {
  it('the recorded cluster: secrets, priority class, ServiceAccount and image are there; the quota is busy (!), exit 0', async () => {
    const env = await cluster();
    const r = await cli(['preflight', 'padus-4-1'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('preflight padus-4-1 — namespace biodiversity, context nrp-test');
    expect(lines.slice(1, -1)).toEqual([
      '  ✓ secret aws: has AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY',
      '  ✓ priority class opportunistic: exists (value -10, preemptionPolicy PreemptLowerPriority)',
      '  ✓ ServiceAccount cng-flux: exists',
      expect.stringMatching(/^ {2}! quota biodiversity-pods: pods 180\/200 used, padus-4-1 needs up to (\d+); requests\.memory 900Gi\/2000Gi used, padus-4-1 needs up to \d+Gi — not free now/),
      expect.stringMatching(new RegExp(`^  ✓ image ${ClusterProfile.NRP.image.replace(/[.:/]/g, '\\$&')}: pulled by pod padus-4-1-.* \\(sha256:9b1f0c8d`)),
    ]);
    const pods = Number(/needs up to (\d+);/.exec(r.stdout)![1]);
    expect(pods).toBeGreaterThan(20);
    expect(pods).toBeLessThanOrEqual(padus41.maxPods!);
    expect(r.stdout).not.toMatch(/not-a-real|bm90LWEtcmVhbC/); // the secret values never reach the output
  }, 240_000);

  it('a cluster missing a key, the ServiceAccount and quota room, where priority classes are forbidden: ✗ and ?, exit 1', async () => {
    const env = await cluster((fx) => {
      delete fx.secrets.items[0].data.AWS_SECRET_ACCESS_KEY;
      fx.serviceaccounts.items = fx.serviceaccounts.items.filter((s: any) => s.metadata.name !== 'cng-flux');
      fx.resourcequotas.items[0].status.hard.pods = '50';
      fx.forbidden = ['priorityclasses'];
      fx.pods.items = [];
    });
    const r = await cli(['preflight', 'padus-4-1'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  ✗ secret aws: no key AWS_SECRET_ACCESS_KEY (it has AWS_ACCESS_KEY_ID) — add it, e.g. kubectl edit secret aws -n biodiversity');
    expect(r.stdout).toMatch(/ {2}\? priority class opportunistic: cannot check \(.*HTTP 403/);
    expect(r.stdout).toContain('  ✗ ServiceAccount cng-flux: not found — Flux applies the stages as it: apply the bootstrap, kubectl apply -k flux/nrp');
    expect(r.stdout).toMatch(/ {2}✗ quota biodiversity-pods: pods 180\/50 used, .* — more than the quota allows at all/);
    expect(r.stdout).toMatch(/ {2}\? image .*: cannot check from the API \(no pod in biodiversity has run it yet; the API does not look into registries\) — check with: docker manifest inspect /);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe("3 check(s) failed: fix them before merging the dataset's PR.");
    expect((await cli(['preflight'], env)).code).toBe(2);
    const unknown = await cli(['preflight', 'padus-41'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no dataset 'padus-41' in datasets\/ \(known: /);
  }, 240_000);

  it('with the mirror declared, the sync stage reads source-coop, which the cluster does not have yet: ✗ with the command that creates it', async () => {
    const env = await cluster();
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = env.KUBECONFIG;
    try {
      const reader = await connectCluster({ namespace: 'biodiversity' });
      const checks = await preflight(reader, padus41, MIRRORED);
      expect(checks.filter((c) => c.text.startsWith('secret '))).toEqual([
        { state: 'ok', text: 'secret aws: has AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY' },
        {
          state: 'fail',
          text:
            'secret source-coop: not found in namespace biodiversity — pods reading it would stay in CreateContainerConfigError; create it: ' +
            'kubectl create secret generic source-coop -n biodiversity --from-literal=AWS_ACCESS_KEY_ID=… --from-literal=AWS_SECRET_ACCESS_KEY=…',
        },
      ]);
    } finally {
      process.env.KUBECONFIG = saved;
    }
  }, 240_000);
});

describe('pods that cannot start: status and doctor name the fix', () => {
  const waiting = (reason: string, message: string) => ({ phase: 'Pending', containerStatuses: [{ name: 'worker', ready: false, restartCount: 0, image: 'x', imageID: '', state: { waiting: { reason, message } } }] });

  it('classifies CreateContainerConfigError, ErrImagePull and ImagePullBackOff with the fix', () => {
    const pod = (status: any) => classifyPod({ metadata: { name: 'p', labels: { 'job-name': 'j' } }, status });
    const missing = pod(waiting('CreateContainerConfigError', 'secret "source-coop" not found'));
    expect(missing).toMatchObject({ state: 'config-error', reason: 'CreateContainerConfigError' });
    expect(podStartFix(missing, 'biodiversity', 'padus-4-1')).toMatch(/^create secret source-coop in namespace biodiversity .*cng preflight padus-4-1 checks every secret/);
    const key = pod(waiting('CreateContainerConfigError', "couldn't find key AWS_SECRET_ACCESS_KEY in Secret biodiversity/aws"));
    expect(podStartFix(key, 'biodiversity')).toMatch(/^add key AWS_SECRET_ACCESS_KEY to secret aws in namespace biodiversity/);
    const notFound = pod(waiting('ErrImagePull', 'rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/boettiger-lab/cng-worker:9.9.9": not found'));
    expect(podStartFix(notFound, 'biodiversity')).toMatch(/^the registry has no such image: the tag is a digest of the worker's files \(cng image-tag\)/);
    const denied = pod(waiting('ErrImagePull', 'failed to authorize: failed to fetch anonymous token: 401 Unauthorized'));
    expect(podStartFix(denied, 'biodiversity')).toMatch(/make the ghcr\.io package public/);
    const backoff = pod(waiting('ImagePullBackOff', 'Back-off pulling image "ghcr.io/boettiger-lab/cng-worker:9.9.9"'));
    expect(backoff.state).toBe('image-pull');
    expect(podStartFix(backoff, 'biodiversity')).toMatch(/kubectl describe pod -n biodiversity shows why/);
  });

  it('cng status and cng doctor on a cluster where a sync pod misses its secret and a hex pod its image', async () => {
    const env = await cluster((fx) => {
      const [a, b] = fx.pods.items.filter((p: any) => p.metadata.name.includes('combined-hex-p1'));
      a.status = { ...waiting('CreateContainerConfigError', 'secret "source-coop" not found'), conditions: a.status.conditions };
      b.status = { ...waiting('ErrImagePull', 'rpc error: code = NotFound desc = failed to pull and unpack image: not found'), conditions: b.status.conditions };
      // What the short health check leaves on a running stage's Kustomization.
      const k = fx.kustomizations.items.find((x: any) => x.metadata.name === 'padus-4-1-combined-hex');
      k.status.conditions = [{ type: 'Ready', status: 'False', reason: 'HealthCheckFailed', message: "health check failed after 1m0s: timeout waiting for: [Job/biodiversity/padus-4-1-combined-hex-p0-r1-0a1b2c3d status: 'InProgress']" }];
    });
    const status = await cli(['status', 'padus-4-1'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/combined-hex\s+running\s+waiting for its Jobs .*1 image-pull errors; 1 cannot start \(missing secret\)/);
    expect(status.stdout).toContain('1 pod cannot start: CreateContainerConfigError — secret "source-coop" not found; fix: create secret source-coop in namespace biodiversity');
    expect(status.stdout).toMatch(/cannot pull image .*: ErrImagePull — .*; fix: the registry has no such image/);
    const doctor = await cli(['doctor', 'padus-4-1'], env);
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toMatch(/padus-4-1 combined-hex: 1 pod cannot start \(CreateContainerConfigError: secret "source-coop" not found\), so the Job neither runs nor fails; create secret source-coop/);
    expect(doctor.stdout).toMatch(/padus-4-1 combined-hex: 1 pod cannot pull image .*; the registry has no such image/);
  }, 240_000);
});
