"""A reference receiver that verifies signed audit events and writes them to S3.

Runs as an AWS Lambda behind API Gateway (``receivers.s3.handler.lambda_handler``) or as a
small starlette app (``python -m receivers.s3``).  The Lambda path needs nothing but boto3,
which the Lambda Python runtime already ships.
"""
