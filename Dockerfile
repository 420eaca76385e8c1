# The Handover image for docker-compose.yaml: Airflow 3.3.2 (Python 3.11) with requirements.txt, pinned by
# constraints.txt, and the project laid out as in the repository under /opt/airflow:
#
#   /opt/airflow/dags  plugins  include  expectations  contracts  pyproject.toml
#
# The package is installed in editable mode, rooted at /opt/airflow: `handover` resolves to
# /opt/airflow/include/handover and `handover_airflow` to /opt/airflow/plugins/handover_airflow — the
# copies baked in here, or the project's folders that docker-compose.yaml mounts over them (read-only).
# (Editable on purpose: pyproject.toml lists its packages by name, and a regular install of it leaves out
# the sub-packages it does not name — handover.backup, handover.pii, handover.purge.)
#
#   docker compose build                # or: docker build -t handover-airflow:3.3.2 .
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

USER root
# Handover's folders (named volumes in docker-compose.yaml take their owner and mode from here) and the
# SimpleAuthManager's passwords folder; group 0 may write, as for any AIRFLOW_UID in Airflow's image
RUN install -d -o airflow -g 0 -m 0770 /opt/handover /opt/handover/work /opt/handover/output \
        /opt/handover/archive /opt/handover/exports /opt/airflow/auth
USER airflow
WORKDIR /opt/airflow

# the dependencies first: this layer is rebuilt only when the pins change
COPY --chown=airflow:0 requirements.txt constraints.txt /tmp/handover/
RUN pip install --no-cache-dir -r /tmp/handover/requirements.txt -c /tmp/handover/constraints.txt

# then the project, and the package over it (no dependencies: they are all above)
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 expectations/ /opt/airflow/expectations/
COPY --chown=airflow:0 contracts/ /opt/airflow/contracts/
RUN pip install --no-cache-dir --no-deps -e /opt/airflow \
    && python -c "import handover.backup.snapshot, handover.pii, handover.purge, handover_airflow.backups" \
    && handover --help >/dev/null

ENV HANDOVER_WORK_ROOT=/opt/handover/work \
    HANDOVER_OUTPUT_ROOT=/opt/handover/output \
    HANDOVER_ARCHIVE_ROOT=/opt/handover/archive \
    HANDOVER_EXPECTATIONS_DIR=/opt/airflow/expectations \
    GX_ANALYTICS_ENABLED=False
