import type { Substitutions } from '#state-machines/pipeline.ts';

/** Names the rendered definition uses locally: the same shapes as on AWS, in a `local` account. */
const account = '000000000000';
const region = 'local';
export const localFunctionArn = (name: string) =>
  `arn:aws:lambda:${region}:${account}:function:stepline-${name}`;
export const localSubstitutions: Substitutions = {
  ReportStatusFunctionArn: localFunctionArn('report-status'),
  FetchSourceFunctionArn: localFunctionArn('fetch-source'),
  DeployFunctionArn: localFunctionArn('deploy'),
  CheckDeploymentFunctionArn: localFunctionArn('check-deployment'),
  RequestApprovalFunctionArn: localFunctionArn('request-approval'),
  LaneFunctionArn: localFunctionArn('lane'),
  RunnerClusterArn: `arn:aws:ecs:${region}:${account}:cluster/stepline-local`,
  // Families without a revision, as the stack passes them: RunTask runs the latest ACTIVE revision.
  RunnerTaskDefinitionArn: 'stepline-runner',
  PublisherTaskDefinitionArn: 'stepline-publisher',
  RunnerContainerName: 'runner',
  RunnerSubnets: 'subnet-local',
  RunnerSecurityGroups: 'sg-local',
  RunnerAssignPublicIp: 'DISABLED',
};

/**
 * The task roles FetchSource names locally (`$.source.deployment.*TaskRoleArn`): a placeholder in the
 * local account. The local ECS accepts the `TaskRoleArn` override and runs the task with the
 * runtime's own credentials; per-repository isolation is an AWS (IAM) property only.
 */
export const localTaskRoleArnFormat = `arn:aws:iam::${account}:role/stepline-local-{kind}`;
