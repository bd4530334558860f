"""Telehub's stack: everything built from the resource spec, one construct per concern."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infrastructure.api import Api
from infrastructure.config import StageConfig
from infrastructure.data import Data
from infrastructure.function import PlatformResources, TelehubFunction
from infrastructure.messaging import Messaging
from infrastructure.naming import pascal
from infrastructure.operations import Operations
from infrastructure.packaging import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, LambdaPackage
from infrastructure.resource_spec import (
    SHARING_TOPIC,
    SPEC,
    ResourceNames,
    ResourceSpec,
    function_environment,
)
from infrastructure.sharing import Sharing
from infrastructure.web import WebApp


class TelehubStack(Stack):
    """Built from ``spec`` (the stage-independent resource spec) and the sharing subscribers of ``config``."""

    def __init__(
        self, scope: Construct, construct_id: str, *,
        config: StageConfig, spec: ResourceSpec = SPEC, package: LambdaPackage | None = None, **kwargs: Any,
    ):
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "telehub")
        Tags.of(self).add("stage", config.stage)
        self.config = config
        self.spec = spec = spec.with_sharing_subscribers(config.sharing_subscribers())
        self.data = Data(self, "Data", spec=spec, config=config)
        self.messaging = Messaging(self, "Messaging", spec=spec, config=config, key=self.data.data_key)
        self.sharing = Sharing(
            self, "Sharing", spec=spec, config=config,
            topic=self.messaging.topics[SHARING_TOPIC], alarm_topic=self.messaging.alarm_topic,
        )
        resources = PlatformResources(
            tables=self.data.tables,
            queues={**self.messaging.queues, **{
                spec.queue(queue_id).dlq_id: dead_letter_queue
                for queue_id, dead_letter_queue in self.messaging.dead_letter_queues.items()
            }},
            topics=self.messaging.topics,
            keys=self.data.keys,
            data_key=self.data.data_key,
        )
        names = ResourceNames(
            tables={table_id: table.table_name for table_id, table in resources.tables.items()},
            queue_urls={queue_id: queue.queue_url for queue_id, queue in resources.queues.items()},
            topic_arns={topic_id: topic.topic_arn for topic_id, topic in resources.topics.items()},
            key_ids={key_id: key.key_id for key_id, key in resources.keys.items()},
        )
        package = package or LambdaPackage()
        code = package.code()
        dependencies = lambda_.LayerVersion(
            self, "Dependencies",
            description="Telehub functions' run-time dependencies (pyproject.toml, without boto3)",
            code=package.dependencies(),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
        )
        platform = config.platform_settings()
        self.functions = {
            function.id: TelehubFunction(
                self, pascal(function.id),
                spec=function, resource_spec=spec, resources=resources,
                environment=function_environment(function, names, platform),
                code=code, layer=dependencies, config=config,
            )
            for function in spec.functions
        }
        self.api = Api(
            self, "Api",
            spec=spec,
            functions={function_id: construct.function for function_id, construct in self.functions.items()},
            config=config,
            key=self.data.data_key,
        )
        self.operations = Operations(
            self, "Operations",
            spec=spec, config=config, functions=self.functions, api=self.api,
            alarm_topic=self.messaging.alarm_topic,
            queues={**resources.queues, **{
                queue_id: queue
                for delivery in self.sharing.deliveries.values()
                for queue_id, queue in ((delivery.subscriber.queue.id, delivery.queue),
                                        (delivery.subscriber.queue.dlq_id, delivery.dead_letter_queue))
            }},
        )
        self.web = WebApp(self, "Web", config=config, rest_api=self.api.rest_api,
                          origin_secret=self.api.origin_secret, key=self.data.data_key)
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="The Telehub API stage")
        CfnOutput(self, "WebUrl", value=self.web.url, description="The clinician web app (docs/web.md)")
        for organisation, delivery in self.sharing.deliveries.items():
            # One output per subscriber (CloudFormation allows 200): what its account needs to read.
            CfnOutput(
                self, f"SharingSubscriber{organisation}",
                description=f"What {organisation} reads its shared data with (docs/deployment.md)",
                value=self.to_json_string({
                    "queue_url": delivery.queue.queue_url,
                    "queue_arn": delivery.queue.queue_arn,
                    "dead_letter_queue_url": delivery.dead_letter_queue.queue_url,
                    "dead_letter_queue_arn": delivery.dead_letter_queue.queue_arn,
                    "key_arn": delivery.key.key_arn,
                }),
            )
