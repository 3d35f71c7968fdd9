# chatbench in a container: one image for the master (chatbench run --master) and the workers
# (chatbench worker --master-host HOST), the embedded mock, reports and everything else.
#
#   docker build -t chatbench .
#   docker run --rm -v "$PWD/results:/results" chatbench run /app/scenarios/quickstart.yaml --results-dir /results
#
# Two stages on the slim Python base: the first installs chatbench and its dependencies into a venv
# (all of them ship wheels for linux/amd64 and arm64, so no compiler is installed, here or later);
# the second copies only that venv. No pip cache, no build tools and no source tree beyond the
# shipped scenarios end up in the image.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bench ./bench
RUN python -m venv /opt/chatbench && /opt/chatbench/bin/pip install . && \
    /opt/chatbench/bin/pip uninstall -y pip setuptools wheel

FROM python:3.11-slim
COPY --from=build /opt/chatbench /opt/chatbench
COPY scenarios /app/scenarios
ENV PATH=/opt/chatbench/bin:$PATH PYTHONUNBUFFERED=1
# Locust's master port (chatbench run --master), its web UI (chatbench ui), the mock (chatbench mock).
EXPOSE 5557 8089 9000
RUN mkdir -p /work/results && chown -R 65534:65534 /work
WORKDIR /work
USER 65534:65534
ENTRYPOINT ["chatbench"]
CMD ["--help"]
