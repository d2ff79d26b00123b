# logad on the official Ray base image (CPU); GPU clusters use the -gpu tag of the same release.
FROM rayproject/ray:2.60.0-py311-cpu

WORKDIR /home/ray/logad
COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users logad ./logad
COPY --chown=ray:users configs ./configs
COPY --chown=ray:users jobs ./jobs

# The CPU torch wheel first, so the dependency resolver never pulls a CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 \
    && pip install --no-cache-dir -e .

ENV LOGAD_CONFIG_DIR=/home/ray/logad/configs
ENTRYPOINT ["logad"]
CMD ["--help"]
