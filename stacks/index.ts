// Entry point of the Pulumi program (Pulumi.yaml `main`): one stack per incident. Exporting an async
// function is Pulumi's documented top-level-await form: it calls it and exports what it returns.
import { main } from "./program";

export = main;
