FROM python:3.11-slim
WORKDIR /srv/keyturn
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY app ./app
RUN pip install --no-cache-dir . && useradd --system keyturn
USER keyturn
ENV KEYTURN_HOST=0.0.0.0 KEYTURN_PORT=8080
EXPOSE 8080
CMD ["keyturn", "serve"]
