"""Pure builders of Kubernetes building blocks shared by every component: metadata, security, resources."""
