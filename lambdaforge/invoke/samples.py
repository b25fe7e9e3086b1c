"""Built-in sample events for ``forge invoke --event NAME``, as ``sam local generate-event``
users know them.

Each is a JSON file in ``samples/``, taken from the templates of aws-sam-cli
(``samcli/lib/generated_sample_events/events``: ``apigateway/HttpApi.json``,
``apigateway/AwsProxy.json``, ``s3`` (its Put variant), ``sqs/Sqs.json``, ``sns/Sns.json``,
``cloudwatch/ScheduledEvent.json``, ``dynamodb/DynamoDBUpdate.json``) with sam's default
values filled in (region ``us-east-1``, account ``123456789012``, body ``{"test":"body"}``
base64-encoded for API Gateway), and EventBridge's event envelope from its user guide.
"""

from __future__ import annotations

import json
from pathlib import Path

_DIR = Path(__file__).with_name("samples")

#: name → what it is, for ``forge invoke --list-events``
SAMPLES = {
    "apigw-http": "API Gateway HTTP API request (payload format 2.0)",
    "apigw-rest": "API Gateway REST API proxy request (payload format 1.0)",
    "s3-put": "S3 ObjectCreated:Put notification",
    "sqs": "SQS message batch of one",
    "sns": "SNS notification",
    "eventbridge": "EventBridge event (an EC2 state change)",
    "schedule": "EventBridge scheduled event",
    "dynamodb": "DynamoDB stream records (INSERT, MODIFY, REMOVE)",
}


def sample_event(name: str) -> object:
    """The parsed sample event ``name`` (one of ``SAMPLES``); ``KeyError`` for another."""
    if name not in SAMPLES:
        raise KeyError(name)
    return json.loads((_DIR / f"{name}.json").read_text(encoding="utf-8"))
