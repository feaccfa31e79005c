"""How the pipeline runs as a service: deployments, schedules and work pools live in this package only."""
