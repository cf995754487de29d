import * as pulumi from "@pulumi/pulumi";
import * as gosvc from "@pulumi/gosvc";

// The namespace is another stack's output: an Output, as the schema allows for this field.
const platform = new pulumi.StackReference("acme/platform/prod");
const namespace = platform.getOutput("teamNamespace") as pulumi.Output<string>;

const hello = new gosvc.GoService("hello", {
    image: "registry.example.com/gosvc/hello@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    namespace,
    env: { UPSTREAM_URL: platform.getOutput("upstreamUrl") as pulumi.Output<string> },
    autoscaling: { minReplicas: 3, maxReplicas: 10, requestsPerSecond: "100" },
    scheduling: { antiAffinity: "required", zoneSpread: true },
});

const monitoring = new gosvc.ServiceMonitoring("hello", {
    serviceName: hello.serviceName,
    namespace: hello.namespace,
}, { dependsOn: [hello] });

export const url: pulumi.Output<string> = hello.url;
export const alerts: pulumi.Output<string[]> = monitoring.alerts;
