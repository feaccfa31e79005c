# Worker / flow image: usable as the image of a Prefect Docker work pool, or to run the flows directly.
#   docker build -t prefect-mlops-pipeline .
#   docker run --rm prefect-mlops-pipeline python flows/pipeline.py
#   docker run --rm -p 8000:8000 -v "$PWD/models:/opt/pipeline/models" prefect-mlops-pipeline \
#       python -m serving --model digits-logreg --host 0.0.0.0        # the prediction service
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin pipeline
WORKDIR /opt/pipeline

# Dependencies first (from pyproject.toml's pins), so code edits don't reinstall them.
COPY pyproject.toml README.md ./
COPY src/mlops_pipeline/__init__.py src/mlops_pipeline/__init__.py
COPY tasks/__init__.py tasks/__init__.py
COPY flows/__init__.py flows/__init__.py
COPY deployments/__init__.py deployments/__init__.py
COPY serving/__init__.py serving/__init__.py
COPY runtime/__init__.py runtime/__init__.py
RUN pip install --no-cache-dir . && pip uninstall --yes prefect-mlops-pipeline

COPY --chown=pipeline:pipeline . .
RUN pip install --no-cache-dir --no-deps -e . \
    && mkdir -p models .prefect \
    && chown pipeline:pipeline models .prefect

USER 10001
# the prediction service's port (python -m serving ... --host 0.0.0.0)
EXPOSE 8000
CMD ["python", "flows/pipeline.py", "--help"]
