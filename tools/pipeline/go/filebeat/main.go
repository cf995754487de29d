// Command filebeat is Filebeat itself, built from the beats release that go.mod pins: the
// module proxy serves beats only as a library, so this is its filebeat/main.go and nothing more.
package main

import (
	"os"

	"github.com/elastic/beats/v7/filebeat/cmd"
	inputs "github.com/elastic/beats/v7/filebeat/input/default-inputs"
)

func main() {
	if err := cmd.Filebeat(inputs.Init, cmd.FilebeatSettings()).Execute(); err != nil {
		os.Exit(1)
	}
}
