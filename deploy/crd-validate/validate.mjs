// Validate custom resources (a JSON array on stdin) against the schemas generated
// from the KEDA and Prometheus Operator CRDs (@kubernetes-models). Prints one line
// per resource; exit 1 if any fails, 3 if a kind has no schema here.
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const models = {};
for (const m of [ScaledObject, TriggerAuthentication, PodMonitor, ServiceMonitor, PrometheusRule]) {
  models[`${m.apiVersion}/${m.kind}`] = m;
}
let input = "";
for await (const chunk of process.stdin) input += chunk;
let code = 0;
for (const doc of JSON.parse(input)) {
  const name = `${doc.kind}/${doc.metadata?.name}`;
  const Model = models[`${doc.apiVersion}/${doc.kind}`];
  if (!Model) {
    console.log(`SKIP ${name}: no schema for ${doc.apiVersion}`);
    code = Math.max(code, 3);
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`INFO ${name} passed against ${doc.apiVersion} (CRD schema)`);
  } catch (err) {
    console.log(`ERROR ${name}: ${err.message}`);
    code = 1;
  }
}
process.exit(code === 3 ? 3 : code);
