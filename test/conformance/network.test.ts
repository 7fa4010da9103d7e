// Proves that the client reads Neutron's own API reference samples (neutron-lib api-ref v2) through
// its own calls: a port shown and listed (its network, MAC, fixed IPs, device and tags: what the
// address takeover reads) and the subnets the kept address is matched against.
import { network } from "../../clients/openstack";
import { NETWORK, sample, sampleCloud } from "./support";

describe("Neutron API reference samples through the client's calls", () => {
    const { cloud, session, answer } = sampleCloud();

    it("getPort reads port-show-response.json", async () => {
        const id = "46d4bfb9-b26e-41f3-bd2e-e6dcc1ccedb2";
        answer({ [`GET ${NETWORK}/ports/${id}`]: sample("neutron/ports/port-show-response.json") });
        expect(await network.getPort(session(), id)).toMatchObject({
            id,
            name: "",
            network_id: "a87cc70a-3e15-4acf-8205-9b711a3531b7",
            project_id: "7e02058126cc4950b75f9970368ba177",
            mac_address: "fa:16:3e:23:fd:d7",
            fixed_ips: [{ ip_address: "10.0.0.1", subnet_id: "a0304c3a-4f08-4c43-88af-d796509c97d2" }],
            device_id: "5e3898d7-11be-483e-9732-b2f5eccd2b2e",
            device_owner: "network:router_interface",
            status: "ACTIVE",
            security_groups: [],
            tags: ["tag1,tag2"],
        });
    });

    it("listPorts and listPortsByIp read ports-list-response.json and send the filter", async () => {
        answer({ [`GET ${NETWORK}/ports`]: sample("neutron/ports/ports-list-response.json") });
        const ports = await network.listPortsByIp(session(), "10.0.0.1");
        expect(ports.map((p) => [p.id, p.network_id, p.mac_address, p.device_owner, p.fixed_ips.map((f) => f.ip_address)])).toEqual([
            [
                "d80b1a3b-4fc1-49f3-952e-1e2ab7081d8b",
                "70c1db1f-b701-45bd-96e0-a313ee3430b3",
                "fa:16:3e:58:42:ed",
                "network:router_gateway",
                ["172.24.4.2"],
            ],
            [
                "f71a6703-d6de-4be1-a91a-a570ede1d159",
                "f27aa545-cbdd-4907-b0c6-c9e8b039dcc2",
                "fa:16:3e:bb:3c:e4",
                "network:router_interface",
                ["10.0.0.1"],
            ],
        ]);
        expect(new URL(cloud.seen[0].url, cloud.url).searchParams.get("fixed_ips")).toBe("ip_address=10.0.0.1");
        expect((await network.listPorts(session(), { tags: "recovery-stack=o/p/s" })).map((p) => p.tags)).toEqual([
            ["tag1,tag2"],
            ["tag1,tag2"],
        ]);
    });

    it("listSubnets reads subnets-list-response.json, and the kept address matches its CIDR", async () => {
        answer({ [`GET ${NETWORK}/subnets`]: sample("neutron/subnets/subnets-list-response.json") });
        const subnets = await network.listSubnets(session());
        expect(subnets).toEqual([
            {
                id: "08eae331-0402-425a-923c-34f7cfe39c1b",
                network_id: "db193ab3-96e3-4cb3-8fc5-05f4296d0324",
                cidr: "10.0.0.0/24",
                ip_version: 4,
            },
            {
                id: "54d6f61d-db07-451c-9ab3-b9609b6b6f0b",
                network_id: "d32019d3-bc6e-4319-9c1d-6722fc136a22",
                cidr: "192.0.0.0/8",
                ip_version: 4,
            },
        ]);
        expect(subnets.filter((n) => network.ipv4InCidr("10.0.0.1", n.cidr)).map((n) => n.id)).toEqual([
            "08eae331-0402-425a-923c-34f7cfe39c1b",
        ]);
        expect(network.Subnet.parse(sample("neutron/subnets/subnet-show-response.json").subnet)).toMatchObject({ cidr: "192.0.0.0/8" });
    });
});
