#!/usr/bin/env python3
"""CDK entry point: ``cdk synth -c stage=prod`` or ``python app.py`` (stage dev, output in cdk.out/).

Works offline, with no AWS account and no docker: the Lambda code is bundled locally
(infrastructure/packaging.py) and the cdk-nag checks run on every synth.
"""

import os

# Before jsii starts (on the first aws_cdk import): the Node.js here is supported by jsii but past
# its end of life, which jsii would announce in a banner on every run.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from infrastructure.application import PROJECT_ROOT, build_app

if __name__ == "__main__":
    # The CDK CLI says where the cloud assembly goes; run directly, it goes to cdk.out/ as well.
    build_app(outdir=None if "CDK_OUTDIR" in os.environ else str(PROJECT_ROOT / "cdk.out")).synth()
