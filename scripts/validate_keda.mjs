// Checks every KEDA object (apiVersion keda.sh/...) of a rendered manifest file against KEDA's
// own CRD schemas, as the npm package @kubernetes-models/keda carries them:
// kubernetes-validate knows only Kubernetes' built-in kinds and skips these.
// Usage: node scripts/validate_keda.mjs RENDERED.yaml  (prints one line per object checked)
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import * as v1alpha1 from "@kubernetes-models/keda/keda.sh/v1alpha1";

const file = process.argv[2];
let failures = 0;
for (const object of yaml.loadAll(readFileSync(file, "utf8"))) {
  if (!object || !String(object.apiVersion).startsWith("keda.sh/")) continue;
  const name = `${object.kind}/${object.metadata?.name}`;
  const Model = object.apiVersion === "keda.sh/v1alpha1" ? v1alpha1[object.kind] : undefined;
  if (!Model) {
    console.log(`FAIL ${name}: no schema for ${object.apiVersion} ${object.kind}`);
    failures++;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`ok   ${name}: valid for KEDA's ${object.apiVersion} schema`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e.message ?? e}`);
    failures++;
  }
}
process.exit(failures ? 1 : 0);
