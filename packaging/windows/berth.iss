; Inno Setup 6 recipe for Berth on Windows (packaging\windows\build.ps1 runs it):
;   ISCC /DAppVersion=0.1.0 /DSourceDir=dist\berth-windows /DAssetsDir=build\packaging-assets /Odist berth.iss
; Installs per machine into Program Files, adds Start menu and optional desktop shortcuts, and puts
; berth.exe on the PATH. Uninstalling keeps the machines and images under %LOCALAPPDATA%\Berth and removes
; the docker CLI's `berth` context.

#ifndef AppVersion
  #error Pass /DAppVersion=<engine.__version__>
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\berth-windows"
#endif
#ifndef AssetsDir
  #define AssetsDir "..\..\build\packaging-assets"
#endif

[Setup]
; AppId identifies Berth for upgrades and uninstall: never change it.
AppId={{6F1C9B52-3E0A-4C7B-9B8E-2D6A1F0B7C41}
AppName=Berth
AppVersion={#AppVersion}
AppVerName=Berth {#AppVersion}
AppPublisher=Berth
DefaultDirName={autopf}\Berth
DefaultGroupName=Berth
DisableProgramGroupPage=yes
OutputBaseFilename=Berth-{#AppVersion}-setup
SetupIconFile={#AssetsDir}\berth.ico
UninstallDisplayIcon={app}\berth-desktop.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Windows 10 1809+: WHPX, which Berth machines use through QEMU
MinVersion=10.0.17763
PrivilegesRequired=admin
ChangesEnvironment=yes
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the berth command to the PATH"; GroupDescription: "Command line:"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Berth"; Filename: "{app}\berth-desktop.exe"
Name: "{group}\Uninstall Berth"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Berth"; Filename: "{app}\berth-desktop.exe"; Tasks: desktopicon

[Registry]
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; ValueType: expandsz; \
  ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\berth-desktop.exe"; Description: "{cm:LaunchProgram,Berth}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; Before the files go: the docker CLI's `berth` context, if Berth made it (a context the user named berth
; stays). It is removed from the profile of the account the uninstaller runs as (the elevated one).
Filename: "{app}\berth.exe"; Parameters: "machine forget-context"; Flags: runhidden waituntilterminated; \
  RunOnceId: "BerthForgetDockerContext"

[Code]
{ Adds the install directory to PATH only once, so repeated upgrades do not grow it. }
function NeedsAddPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKEY_LOCAL_MACHINE,
    'SYSTEM\CurrentControlSet\Control\Session Manager\Environment', 'Path', Path) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;

{ Removes the install directory from PATH on uninstall. }
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Path, Dir: string;
  P: Integer;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  if not RegQueryStringValue(HKEY_LOCAL_MACHINE,
    'SYSTEM\CurrentControlSet\Control\Session Manager\Environment', 'Path', Path) then
    exit;
  Dir := ExpandConstant('{app}');
  P := Pos(';' + Uppercase(Dir), Uppercase(Path));
  if P > 0 then
  begin
    Delete(Path, P, Length(Dir) + 1);
    RegWriteExpandStringValue(HKEY_LOCAL_MACHINE,
      'SYSTEM\CurrentControlSet\Control\Session Manager\Environment', 'Path', Path);
  end;
end;
