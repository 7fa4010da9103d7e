// The operator's post-recovery check (runbook 000 C, last step: "check the new instance"): their
// own command, run on this machine once the replacement is ACTIVE. Nothing about it is specific to
// recovery, so it is the standard @pulumi/command resource rather than a step of ours: its output
// shows in `pulumi up`, a non-zero exit fails the up, and a new replacement server runs it again.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { projectRoot } from "../clients/projectRoot";

export interface VerifyArgs {
    incident: string;
    command: string;
    serverId: pulumi.Input<string | undefined>;
    serverName: string;
    ipAddresses: pulumi.Input<string[]>;
    repairedVolumeId: pulumi.Input<string>;
}

/** The variables the check gets, named for what an operator would test. */
export function verifyEnvironment(a: Omit<VerifyArgs, "command">): pulumi.Output<Record<string, string>> {
    return pulumi.all([a.serverId, a.ipAddresses, a.repairedVolumeId]).apply(([id, ips, vol]): Record<string, string> => ({
        INCIDENT: a.incident,
        RECOVERED_SERVER_ID: id ?? "",
        RECOVERED_SERVER_NAME: a.serverName,
        // IPv4 first: what most checks (ssh, curl, nc) want when a port has both
        RECOVERED_IP: [...ips].sort((x, y) => Number(x.includes(":")) - Number(y.includes(":")))[0] ?? "",
        RECOVERED_IPS: ips.join(" "),
        REPAIRED_VOLUME_ID: vol,
    }));
}

export function postRecoveryCheck(a: VerifyArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return new command.local.Command(
        `${a.incident}-verify`,
        {
            create: a.command,
            // relative paths in the check are relative to the directory of Pulumi.yaml, not stacks/ (the CLI's cwd)
            dir: projectRoot(),
            environment: verifyEnvironment(a),
            // a replacement server (a new id) is checked again; the same server is not re-checked on every up
            triggers: [a.serverId],
        },
        opts,
    );
}
