// One ImageUpload of `image-upload:file`, tagged for incident `image-upload:incident`.
import * as pulumi from "@pulumi/pulumi";
import { ImageUpload } from "../../../providers/imageUpload";

const c = new pulumi.Config("image-upload");
const upload = new ImageUpload("upload", {
    incident: c.require("incident"),
    stack: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    file: c.require("file"),
    name: `${c.require("incident")} DELETE ME merged root`,
    diskFormat: (c.get("diskFormat") as "qcow2" | "raw" | undefined) ?? "qcow2",
    retain: c.getBoolean("retain") ?? false,
});
export const imageId = upload.imageId;
export const sha512 = upload.sha512;
export const size = upload.size;
