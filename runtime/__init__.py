"""How a command runs its flow: the Prefect API server it talks to and the task runner (installed as
`mlops_pipeline.runtime`).

- `local_server`: with no PREFECT_API_URL, the local Prefect server a flow command uses (shared per PREFECT_HOME,
  or a temporary one per command), and `mlops server status|stop`.
- `server_process`: the shared local server's own process (Prefect's API and UI, stopped when idle).
- `runners`: the task runner a `--task-runner` value or `MLOPS_TASK_RUNNER` names.

The Prefect-free half of a flow command (exit codes, error lines, the summary) is `mlops_pipeline.commands`; the
`MLOPS_*` variables are read by `mlops_pipeline.settings`.
"""
