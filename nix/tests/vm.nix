# A NixOS VM with the module, Docker in swarm mode and a local registry holding
# the demo's images: the preflight refuses the engine until the swarm is
# initialised (and says what to run), then the demo goes green through
# `ccci-run@`, the sweep of the enrolled demo succeeds, and the reaper runs.
#
# `nix flake check` runs it on x86_64-linux hosts with KVM. It was written on a
# machine without KVM (or nixpkgs) and has not been run there.
{ self }:
{ pkgs, lib, ... }:
let
  # The rig's fixture images (scripts/rig.sh), from nixpkgs's static busybox.
  image =
    tag:
    pkgs.dockerTools.buildImage {
      name = "127.0.0.1:5000/ccci/busybox";
      inherit tag;
      copyToRoot = [ pkgs.pkgsStatic.busybox ];
      extraCommands = ''
        mkdir -p etc tmp root
        chmod 1777 tmp
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >etc/passwd
        printf 'root:x:0:\nnogroup:x:65534:\n' >etc/group
        echo ${tag} >etc/ccci-image
      '';
      config = {
        Cmd = [ "/bin/sh" ];
        Env = [ "PATH=/bin" ];
      };
    };
  tags = [
    "1.0"
    "1.1"
  ];
in
{
  name = "ccci";

  nodes.machine = {
    imports = [ self.nixosModules.default ];
    virtualisation = {
      memorySize = 4096;
      diskSize = 8192;
      cores = 2;
    };
    services.dockerRegistry = {
      enable = true;
      listenAddress = "127.0.0.1";
      port = 5000;
    };
    environment.systemPackages = [
      pkgs.git
      pkgs.jq
    ];
    services.ccci = {
      enable = true;
      probeImage = "127.0.0.1:5000/ccci/busybox:1.0";
      recipes.demo = {
        repo = "/srv/mirrors/demo";
        timeouts.test = 120;
        marker_hooks.db = "hooks/backup-marker";
      };
    };
  };

  testScript = ''
    machine.wait_for_unit("docker.service")
    machine.wait_for_unit("docker-registry.service")
    ${lib.concatMapStrings (tag: ''
      machine.succeed("docker load <${image tag} && docker push 127.0.0.1:5000/ccci/busybox:${tag}")
    '') tags}

    # Not a swarm yet: the preflight says, in one line, what to run.
    out = machine.fail("ccci-config preflight 2>&1")
    assert "docker swarm init" in out, out
    machine.succeed("docker swarm init --advertise-addr 127.0.0.1")
    machine.succeed("ccci-config preflight")

    machine.succeed("bash ${self}/scripts/demo-recipe.sh /srv/mirrors/demo")
    machine.succeed("mkdir -p /var/lib/ccci/requests")
    machine.succeed(
        "printf 'CCCI_RUN_RECIPE=demo\\nCCCI_RUN_REPO=/srv/mirrors/demo\\nCCCI_RUN_REF=0.2.0+1.1\\n' >/var/lib/ccci/requests/vm1.env"
    )
    machine.succeed("systemctl start ccci-run@vm1.service")
    machine.wait_until_succeeds("test -f /var/lib/ccci/runs/vm1/results.json", timeout=900)
    machine.wait_until_fails("systemctl is-active ccci-run@vm1.service", timeout=300)
    machine.succeed("jq -e '.level == 5 and .verdict == \"green\"' /var/lib/ccci/runs/vm1/results.json")
    machine.succeed("systemctl show -p Result ccci-run@vm1.service | grep -x Result=success")

    # The enrolled demo: decided, run cold, promoted.
    machine.succeed("systemctl start ccci-sweep.service")
    machine.succeed("jq -e '.version == \"0.2.0+1.1\"' /var/lib/ccci/canonical/demo/canonical.json")

    machine.succeed("systemctl start ccci-reap.service")
  '';
}
