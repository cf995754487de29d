// Command pause is the sandbox container of every pod on the e2e tier's real node: it holds the pod's
// namespaces and does nothing else until it is told to stop. containerd names it as its sandbox image;
// registries that serve Kubernetes' own cannot be reached here, so the tier builds this one.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
