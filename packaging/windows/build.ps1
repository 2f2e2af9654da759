# Build Berth for Windows: dist\berth-windows\ (berth-desktop.exe, berth.exe) and, with Inno Setup 6
# installed, dist\Berth-<version>-setup.exe. Run from the repository in PowerShell:
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
# Needs Python 3.11-3.13 (python.org or `winget install Python.Python.3.11`).
$ErrorActionPreference = "Stop"
$Repo = Resolve-Path (Join-Path $PSScriptRoot "..\..")
$Venv = Join-Path $Repo ".venv"
$Py = Join-Path $Venv "Scripts\python.exe"
$Assets = Join-Path $Repo "build\packaging-assets"
$Dist = Join-Path $Repo "dist"

if (-not (Test-Path $Py)) {
    py -3.11 -m venv $Venv
    & $Py -m pip install --upgrade pip
}
# pyroute2 (berthd's netlink) is Linux-only but harmless to install; berthd is not bundled on Windows.
& $Py -m pip install -e "$Repo[desktop]" "pyinstaller>=6.10,<7"
if ($LASTEXITCODE) { throw "pip failed" }

# berth.ico and the version resources of both executables, from resources\ and engine.__version__
& $Py (Join-Path $Repo "packaging\make_assets.py") --out $Assets
if ($LASTEXITCODE) { throw "make_assets failed" }

# The pinned guest image the app downloads on first run; a release refuses an unpinned manifest.
$Manifest = if ($env:BERTH_GUEST_MANIFEST) { $env:BERTH_GUEST_MANIFEST } else { Join-Path $Repo "packaging\guest-image.json" }
# --wsl: Windows machines are WSL distros first, imported from the release's root file system.
& $Py (Join-Path $Repo "packaging\guest_image.py") check --wsl $Manifest
if ($LASTEXITCODE) { throw "the guest image manifest is not pinned (see packaging\README.md)" }

$env:BERTH_ASSETS = $Assets
$env:BERTH_GUEST_MANIFEST = $Manifest
& $Py -m PyInstaller --noconfirm --clean --distpath $Dist --workpath (Join-Path $Repo "build\pyinstaller") `
    (Join-Path $Repo "packaging\berth.spec")
if ($LASTEXITCODE) { throw "PyInstaller failed" }

$Version = & $Py -c "import engine; print(engine.__version__)"
$Check = & (Join-Path $Dist "berth-windows\berth.exe") --version
if ($Check -ne "berth $Version") { throw "berth.exe --version said '$Check'" }

if ($env:BERTH_SIGN_CERT) {
    # Authenticode: signtool from the Windows SDK, certificate thumbprint in BERTH_SIGN_CERT.
    Get-ChildItem (Join-Path $Dist "berth-windows") -Filter *.exe | ForEach-Object {
        signtool sign /sha1 $env:BERTH_SIGN_CERT /fd sha256 /tr http://timestamp.digicert.com /td sha256 $_.FullName
    }
}

$Iscc = Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe"
if (Test-Path $Iscc) {
    & $Iscc "/DAppVersion=$Version" "/DSourceDir=$Dist\berth-windows" "/DAssetsDir=$Assets" "/O$Dist" `
        (Join-Path $Repo "packaging\windows\berth.iss")
    if ($LASTEXITCODE) { throw "Inno Setup failed" }
    Write-Host "built $Dist\Berth-$Version-setup.exe"
} else {
    Write-Host "Inno Setup 6 not found: built $Dist\berth-windows only (winget install JRSoftware.InnoSetup)"
}
