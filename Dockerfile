# The churn model server (`mlops-lab serve`: FastAPI, uvicorn, ONNX Runtime) as a container image.
# nbs/7_serve/75_container.ipynb explains each line. `mlops-lab image RUN` assembles the build context and builds:
#   Dockerfile   this file
#   wheels/      the project's wheel and every wheel of its [serve] extra, so the build needs no package index
#   model/       the model baked in: a pipeline run's model.joblib, model.onnx and metrics.json
# Run:  docker run -p 127.0.0.1:8000:8000 IMAGE                                     (the baked-in model, on $PORT, 8000)
#       docker run -v /path/to/run:/srv/models/mine:ro -e MLOPS_LAB_MODEL=/srv/models/mine ... IMAGE  (a mounted one)
ARG BASE=python:3.11-slim-bookworm

# Stage 1: install into a virtual environment from the wheels alone (no compiler, no index, no cache left behind).
FROM ${BASE} AS build
ARG VERSION
COPY wheels /wheels
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels "mlops-lab[serve]==${VERSION}"

# Stage 2: the runtime: the base, the environment, the model, a user without privileges.
FROM ${BASE}
ARG RUN=model
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLOPS_LAB_MODEL=/srv/models/${RUN} \
    PORT=8000
RUN groupadd --system --gid 10001 serve \
 && useradd --system --uid 10001 --gid 10001 --home-dir /srv --shell /usr/sbin/nologin serve \
 && mkdir -p /srv/log && chown 10001:10001 /srv/log
COPY --from=build /opt/venv /opt/venv
COPY model /srv/models/${RUN}
USER 10001:10001
WORKDIR /srv
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/ready', timeout=2)"]
ENTRYPOINT ["mlops-lab", "serve", "--host", "0.0.0.0", "--log-dir", "/srv/log"]
