# Worker / flow / prediction-service image: usable as the image of a Prefect Docker work pool, or to run the flows.
#   docker build -t prefect-mlops-pipeline .
#   docker run --rm -v "$PWD/models:/opt/pipeline/models" prefect-mlops-pipeline python flows/pipeline.py
#   docker run --rm -p 8000:8000 -v "$PWD/models:/opt/pipeline/models" prefect-mlops-pipeline \
#       python -m serving --model digits-logreg --host 0.0.0.0        # the prediction service
# Without Docker: scripts/build_image.sh builds it with buildah from a local Debian base (README, docs/ci.md).
#
# BASE_IMAGE: any Debian-based image with python3 (>= 3.11) and its venv module (python:3.11-slim, or the base
# scripts/build_image.sh makes with debootstrap). Everything is installed into a virtualenv, /opt/venv, so the
# base's own Python packages are never touched (Debian's python3 refuses a system-wide pip install anyway).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python3 -m venv /opt/venv \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin pipeline
WORKDIR /opt/pipeline

# Dependencies first (from pyproject.toml's pins), in a layer of their own that only pyproject.toml decides: the
# readme and the packages it lists are empty stand-ins here (scripts/package_stand_ins.py), so editing them reuses the
# layer. The stand-ins go again.
COPY pyproject.toml scripts/package_stand_ins.py ./
RUN python3 package_stand_ins.py \
    && pip install --no-cache-dir . \
    && pip uninstall --yes prefect-mlops-pipeline \
    && rm -rf README.md package_stand_ins.py src tasks flows deployments serving runtime build

# The project itself, installed editable: the deployments' pull step runs flows from the folder the package is
# installed from (mlops_pipeline.deployments.catalog.enter_project_directory), here /opt/pipeline.
COPY --chown=pipeline:pipeline . .
RUN pip install --no-cache-dir --no-deps -e . \
    && mkdir -p models .prefect \
    && chown pipeline:pipeline models .prefect

USER 10001
# the prediction service's port (python -m serving ... --host 0.0.0.0)
EXPOSE 8000
CMD ["python", "flows/pipeline.py", "--help"]
