"""The pipeline library: config, data, contract, training, gate, int8 quantization, model store, drift.

Plain, typed functions and classes with no Prefect import, so a model can be loaded, checked and scored
anywhere (a notebook, the prediction service, another orchestrator). The Prefect tasks that wrap these steps are
in `mlops_pipeline.tasks` (the `tasks/` folder), the flows in `mlops_pipeline.flows` (`flows/`).
"""
