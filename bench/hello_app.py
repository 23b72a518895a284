"""Baseline for the ingest benchmark: a hello-world Flask endpoint that reads the body and answers 200."""

from flask import Flask, request

app = Flask(__name__)


@app.post("/webhooks/hubspot")
def hello():
    request.get_data()
    return {"hello": "world"}
