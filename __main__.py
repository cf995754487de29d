"""The gosvc program: validate the stack's config, build the image, deploy the service."""

import pulumi

from components import GoImage, GoService, stack_config

cfg = stack_config.from_pulumi()  # raises ConfigError before any resource is registered

image = GoImage(cfg.service.service_name, cfg.image.model_dump(exclude_none=True))

service = GoService(cfg.service.service_name, {**cfg.service.model_dump(), "image": image.image_ref})

pulumi.export("image", image.image_ref)
pulumi.export("namespace", service.namespace)
pulumi.export("url", service.url)
pulumi.export("pprofPortForward", service.pprof_port_forward)
