# The ccci tools as one package: every binary of the workspace in $out/bin,
# wrapped so they find the docker CLI and git they drive.
{
  lib,
  rustPlatform,
  makeWrapper,
  docker-client,
  git,
  restic,
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
      ../recipes
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
          restic
        ]
      }
    done
    # The test suites the runner plans from (config `recipes_dir`).
    mkdir -p $out/share/ccci
    cp -r recipes $out/share/ccci/recipes
  '';

  meta = {
    description = "Continuous integration for Co-op Cloud recipes on Docker Swarm";
    license = lib.licenses.agpl3Plus;
    mainProgram = "ccci-run";
    platforms = lib.platforms.linux;
  };
}
