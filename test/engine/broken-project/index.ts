// Type error on purpose (see Pulumi.yaml).
const n: number = "not a number";
export = { n };
