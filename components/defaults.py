"""Named default values the specs and builders use. Where a value is sourced rather than chosen, the comment or
docstring beside it says from where: the base image's documentation, the sample app's listeners in app/, the Go
module proxy's release list."""

# Image build
GO_BUILD_LDFLAGS = "-s -w"  # strips symbol table and DWARF: usually 25-30% smaller
DISTROLESS_STATIC = "gcr.io/distroless/static-debian12:nonroot"  # ~2 MiB, has CA certs and tzdata
ALPINE_PINNED = "alpine:3.22.2"  # when a shell is needed; ships ca-certificates-bundle
GO_BUILDER_VARIANT = "bookworm"
GO_PATCH_RELEASES = {"1.25": "1.25.14", "1.26": "1.26.11", "1.27": "1.27.4"}
"""The newest patch release of each Go minor, as the Go module proxy listed golang.org/toolchain on 2026-12-06. A `go`
line is a language minimum, not a toolchain: GoImage builds with this release of its minor unless go.mod names a
`toolchain`, so the builder carries the minor's security fixes. Update it with each Go point release."""
NONROOT_UID = 65532  # distroless `nonroot` user and group
DEFAULT_PLATFORM = "linux/amd64"

# Ports the sample service (app/) listens on
HTTP_PORT = 8080
METRICS_PORT = 9090
ADMIN_PORT = 6060  # pprof, bound to loopback inside the pod; reached by port-forward only
SERVICE_HTTP_PORT = 80

# Graceful shutdown: preStop sleep lets endpoints drain before SIGTERM reaches the app
SHUTDOWN_TIMEOUT_SECONDS = 25
PRE_STOP_SLEEP_SECONDS = 5
TERMINATION_GRACE_MARGIN_SECONDS = 5

# Resources
CPU_REQUEST = "100m"
CPU_LIMIT = "1"
MEMORY_REQUEST = "128Mi"
GOMEMLIMIT_PERCENT = 90  # leaves headroom for non-heap memory under the container limit
TMP_SIZE_LIMIT = "64Mi"

# Autoscaling
HPA_MIN_REPLICAS = 2
HPA_MAX_REPLICAS = 4
HPA_CPU_UTILIZATION = 70
HPA_SCALE_DOWN_STABILIZATION_SECONDS = 300

# Namespaces
NAMESPACE = "gosvc"
MONITORING_NAMESPACE = "monitoring"

# Labels
PART_OF = "gosvc"
MANAGED_BY = "pulumi"
