import { App } from 'aws-cdk-lib';
import { buildApp } from './stepline-app.ts';

/**
 * The CDK app (`cdk deploy` runs it through cdk.json): the Stepline stack from the deployment config,
 * and the demo stack with `-c demo=true`. The CLI synthesizes it when the process exits.
 */
const app = new App();
buildApp(app);
