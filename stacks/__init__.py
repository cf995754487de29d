"""The program's side of the project: the stack files (`Pulumi.<stack>.yaml`) and, in `config`, the `gosvc:*`
keys they may set and the loader that turns them into the components' args. Users of the library never import it."""
