"""The crosswalk between the policy pack and the linters' default check sets (issue 26).

`catalogue` reads the linters' check lists kept as data in policies/crosswalk/, `extract` regenerates the
lists that can be read mechanically from a linter's own package, `kinds` finds what the project emits,
`coverage` measures the pack against each list, `docs` writes docs/policy-crosswalk.md.
"""
