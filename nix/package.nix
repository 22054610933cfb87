# The ccci tools as one package: every binary of the workspace in $out/bin,
# wrapped so they find the docker CLI and git they drive.
{
  lib,
  rustPlatform,
  makeWrapper,
  docker-client,
  git,
}:
let
  workspace = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = "ccci";
  inherit (workspace.workspace.package) version;

  # Only what the build reads, so editing docs or scripts does not rebuild.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../crates
      ../bins
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;

  # The test suite needs a Docker Engine in swarm mode and a registry;
  # scripts/test.sh runs it on a machine that has them.
  doCheck = false;

  nativeBuildInputs = [ makeWrapper ];
  postInstall = ''
    for b in $out/bin/ccci-*; do
      wrapProgram "$b" --prefix PATH : ${
        lib.makeBinPath [
          docker-client
          git
        ]
      }
    done
  '';

  meta = {
    description = "Continuous integration for Co-op Cloud recipes on Docker Swarm";
    license = lib.licenses.agpl3Plus;
    mainProgram = "ccci-deploy";
    platforms = lib.platforms.linux;
  };
}
