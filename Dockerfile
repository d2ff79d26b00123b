# logad on the official Ray base image (Python 3.11). One Dockerfile, two images:
#   CPU (ingest/parse/features workers, the head):
#     docker build -t REGISTRY/logad:0.1.0 .
#   GPU (train/score workers): the -gpu base and PyPI's torch wheel, which bundles CUDA:
#     docker build -t REGISTRY/logad:0.1.0-gpu \
#       --build-arg RAY_IMAGE=rayproject/ray:2.60.0-py311-gpu --build-arg TORCH_INDEX=https://pypi.org/simple .
ARG RAY_IMAGE=rayproject/ray:2.60.0-py311-cpu
FROM ${RAY_IMAGE}

# The CPU wheel index by default, so the resolver never pulls a multi-GB CUDA build into CPU images.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

WORKDIR /home/ray/logad
COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users logad ./logad
COPY --chown=ray:users configs ./configs
COPY --chown=ray:users jobs ./jobs

# torch first and pinned; then logad with the object-storage filesystems (s3fs, gcsfs).
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" torch==2.13.0 \
    && pip install --no-cache-dir -e ".[cloud]"

ENV LOGAD_CONFIG_DIR=/home/ray/logad/configs
# Jobs run `python jobs/<stage>.py` from here; KubeRay starts Ray with its own command.
CMD ["logad", "--help"]
