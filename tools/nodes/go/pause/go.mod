module gosvc.dev/tools/nodes/pause

go 1.26.0
