import * as pulumi from "@pulumi/pulumi";
import * as gosvc from "@pulumi/gosvc";

// replicas decides how many objects exist: the schema makes it plain, so an Output is a type error.
new gosvc.GoService("hello", { image: "registry.example.com/gosvc/hello:1.0.0", replicas: pulumi.output(3) });
