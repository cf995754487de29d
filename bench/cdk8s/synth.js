// The peer of gosvc's synth benchmark: N Go services with cdk8s-plus, each with the same
// intent as a GoService (Deployment with probes, limits and hostname spread, Service,
// HPA on CPU, NetworkPolicy), synthesized to YAML in memory. cdk8s-plus has no
// PodDisruptionBudget construct, so the peer has one object fewer per service.
// Usage: node synth.js N  -> prints one JSON line {n, seconds, objects, peak_rss_kib}
'use strict';
const { App, Chart, Size, Duration } = require('cdk8s');
const kplus = require('cdk8s-plus-33');
const { Cpu } = kplus;

function service(chart, i) {
  const name = `svc${String(i).padStart(3, '0')}`;
  const deployment = new kplus.Deployment(chart, `${name}-deployment`, {
    metadata: { name, namespace: 'bench' },
    automountServiceAccountToken: false,
    strategy: kplus.DeploymentStrategy.rollingUpdate({
      maxSurge: kplus.PercentOrAbsolute.percent(25),
      maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
    }),
    containers: [{
      name: 'app',
      image: 'registry.example.com/bench/svc:1.0.0',
      portNumber: 8080,
      ports: [{ number: 9090, name: 'metrics' }],
      resources: {
        cpu: { request: Cpu.millis(100), limit: Cpu.units(1) },
        memory: { request: Size.mebibytes(128), limit: Size.mebibytes(128) },
      },
      envVariables: { GOMEMLIMIT: kplus.EnvValue.fromValue('115MiB') },
      startup: kplus.Probe.fromHttpGet('/healthz', { port: 8080, periodSeconds: Duration.seconds(2), failureThreshold: 30 }),
      readiness: kplus.Probe.fromHttpGet('/readyz', { port: 8080 }),
      liveness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
      securityContext: { user: 65532, group: 65532, ensureNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
    }],
  });
  deployment.scheduling.spread({ topology: kplus.Topology.HOSTNAME, weight: 100 });
  deployment.exposeViaService({ name, ports: [{ port: 80, targetPort: 8080, name: 'http' }, { port: 9090, targetPort: 9090, name: 'metrics' }] });
  new kplus.HorizontalPodAutoscaler(chart, `${name}-hpa`, {
    target: deployment,
    minReplicas: 2,
    maxReplicas: 4,
    metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(70))],
  });
  const policy = new kplus.NetworkPolicy(chart, `${name}-netpol`, {
    metadata: { namespace: 'bench' },
    selector: deployment,
    ingress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
    egress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
  });
  policy.addIngressRule(kplus.Namespaces.select(chart, `${name}-monitoring`, { names: ['monitoring'] }), [kplus.NetworkPolicyPort.tcp(9090)]);
}

function main() {
  const n = Number(process.argv[2] || '1');
  const start = process.hrtime.bigint();
  const app = new App({ outdir: '/nonexistent' });
  const chart = new Chart(app, 'bench', { namespace: 'bench' });
  for (let i = 0; i < n; i++) service(chart, i);
  const docs = app.synthYaml();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const objects = (docs.match(/^kind: /gm) || []).length;
  console.log(JSON.stringify({ n, seconds, objects, peak_rss_kib: process.resourceUsage().maxRSS }));
}

main();
