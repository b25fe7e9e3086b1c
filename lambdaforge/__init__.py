"""lambdaforge: declarative, cached, reproducible builds of AWS Lambda functions and layers."""

__version__ = "0.1.0"
