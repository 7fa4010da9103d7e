// Entry point of the Pulumi program (Pulumi.yaml `main`): one stack per incident.
import { main } from "./program";

export = main();
