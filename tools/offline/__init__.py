"""The offline tier: the program and components under Pulumi's mock engine (`engine`), what `pulumi up`
would create written to disk (`synth`), and the real policy pack run on it over the Analyzer
protocol (`policy_runner`). No CLI, cluster, Docker or registry is needed."""
