"""Right-sizing from measurement: load the sample service to saturation, then propose each stack's
CPU request, memory, and autoscaling targets from the curve (`make size`)."""
