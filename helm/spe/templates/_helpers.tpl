{{/* Name of the release's objects. */}}
{{- define "spe.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "spe.labels" -}}
app.kubernetes.io/name: spe
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector of one component's pods ("api" or "controller"). Project workspaces reach
     the control plane's API pods by app.kubernetes.io/name=spe and component=api. */}}
{{- define "spe.selector" -}}
app.kubernetes.io/name: spe
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: repository@digest when a digest is
     given, else repository:tag (tag defaulting to the chart's appVersion).
     Call with (dict "image" .Values.x "root" .). */}}
{{- define "spe.imageRef" -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ .image.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "spe.image" -}}
{{ include "spe.imageRef" (dict "image" .Values.image "root" .) }}
{{- end -}}

{{/* Refuse to render a production release that still points at the documentation's
     example hosts (values.yaml ships them so that every key is shown): a platform for
     health data must not send logins, data or workspaces to someone else's domain. */}}
{{- define "spe.refuseExamples" -}}
{{- $hosts := dict
    "settings.publicUrl" (urlParse .Values.settings.publicUrl).host
    "oidc.issuer" (urlParse .Values.oidc.issuer).host
    "storage.endpoint" (regexReplaceAll ":[0-9]+$" .Values.storage.endpoint "")
    "workspaces.ingressDomain" .Values.workspaces.ingressDomain -}}
{{- range $value, $host := $hosts }}
{{- $h := lower (regexReplaceAll ":[0-9]+$" $host "") }}
{{- if regexMatch "(^|\\.)(example\\.(org|com|net)|example|invalid|localhost)$" $h }}
{{- fail (printf "%s names the example host %q: set the real one (docs/production.md)" $value $h) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Environment shared by every container: settings from the ConfigMap are added with
     envFrom; secrets come by reference here. Each name is a field of spe.settings.Settings
     or spe.auth.oidc.config.OidcConfig (tests/helm checks it). */}}
{{- define "spe.env" -}}
- name: SPE_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.database.name }}, key: {{ .Values.secrets.database.key }}}}
- name: SPE_OIDC_CLIENT_SECRET
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.oidc.name }}, key: {{ .Values.secrets.oidc.key }}}}
- name: SPE_STORAGE_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.storage.name }}, key: {{ .Values.secrets.storage.accessKey }}}}
- name: SPE_STORAGE_SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.storage.name }}, key: {{ .Values.secrets.storage.secretKey }}}}
{{- end -}}

{{/* Where the shared state is mounted (the ConfigMap points the settings there). */}}
{{- define "spe.keysDir" -}}/var/run/spe/keys{{- end -}}
{{- define "spe.dataKeysDir" -}}/var/lib/spe/data-keys{{- end -}}

{{/* Where the checkpoint signer's Secret (the audit signing key) is mounted. */}}
{{- define "spe.auditSigningDir" -}}/var/run/spe/audit-signing{{- end -}}

{{/* The files of the keys Secret that each component's process reads, and no more
     (spe.dataplane.config.KEY_USERS; tests/helm checks the two agree). The audit signing
     key is in none: it is in the checkpoint signer's own Secret. */}}
{{- define "spe.keyItems" -}}
{{- $root := .root }}
{{- $files := dict
  "api" (list "secrets.key" "hub-oidc-key.json" "audit-ed25519.pub.pem" "release-ed25519.pem" "extract-ed25519.pem" "extract-grant.key" "kek.key")
  "controller" (list "secrets.key" "extract-ed25519.pem" "extract-grant.key" "kek.key" "pseudonymisation.key")
  "test" (list "audit-ed25519.pub.pem") }}
{{- range (index $files .component) }}
{{- if not (and (eq . "kek.key") (eq $root.Values.keyStore.type "pkcs11")) }}
- {key: {{ . }}, path: {{ . }}}
{{- end }}
{{- end }}
{{- end -}}

{{/* Pod-level settings of a component's pods (dict "root" . "component" api|controller|
     signer|test): the shared state only where it is used. */}}
{{- define "spe.podCommon" -}}
{{- $root := .root }}
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  - name: data
    emptyDir: {}
  {{- if eq .component "signer" }}
  - name: audit-signing
    secret:
      secretName: {{ $root.Values.secrets.auditSigningKey.name }}
      items: [{key: {{ $root.Values.secrets.auditSigningKey.key }}, path: audit-ed25519.pem}]
      defaultMode: 0440
  {{- else }}
  - name: keys
    secret:
      secretName: {{ $root.Values.secrets.keys.name }}
      defaultMode: 0440  # group: fsGroup, the processes
      items:
        {{- include "spe.keyItems" . | nindent 8 }}
  {{- end }}
  {{- if has .component (list "api" "controller") }}
  - name: data-keys
    persistentVolumeClaim:
      claimName: {{ $root.Values.dataKeys.existingClaim }}
  {{- if eq $root.Values.keyStore.type "pkcs11" }}
  - name: hsm-pin
    secret:
      secretName: {{ $root.Values.keyStore.pkcs11.pinSecret.name }}
      items: [{key: {{ $root.Values.keyStore.pkcs11.pinSecret.key }}, path: pin}]
      defaultMode: 0440
  {{- end }}
  {{- if $root.Values.permits.trustedIssuers }}
  - name: permit-issuers
    configMap:
      name: {{ include "spe.fullname" $root }}-permit-issuers
  {{- end }}
  {{- end }}
{{- end -}}

{{/* The volume mounts matching spe.podCommon (same dict). */}}
{{- define "spe.mounts" -}}
{{- $root := .root }}
- {name: tmp, mountPath: /tmp}
- {name: data, mountPath: /var/lib/spe}
{{- if eq .component "signer" }}
- {name: audit-signing, mountPath: {{ include "spe.auditSigningDir" $root }}, readOnly: true}
{{- else }}
- {name: keys, mountPath: {{ include "spe.keysDir" $root }}, readOnly: true}
{{- end }}
{{- if has .component (list "api" "controller") }}
- {name: data-keys, mountPath: {{ include "spe.dataKeysDir" $root }}}
{{- if eq $root.Values.keyStore.type "pkcs11" }}
- {name: hsm-pin, mountPath: {{ include "spe.hsmPinDir" $root }}, readOnly: true}
{{- end }}
{{- if $root.Values.permits.trustedIssuers }}
- {name: permit-issuers, mountPath: {{ include "spe.permitIssuersDir" $root }}, readOnly: true}
{{- end }}
{{- end }}
{{- end -}}

{{/* Where the HSM's user PIN is mounted (keyStore.type pkcs11). */}}
{{- define "spe.hsmPinDir" -}}
/var/run/spe/hsm
{{- end -}}

{{/* Where the trusted permit issuers file is mounted. */}}
{{- define "spe.permitIssuersDir" -}}
/etc/spe/permit-issuers
{{- end -}}

{{/* On a live install (the cluster answers lookups; `helm template` has none), refuse to
     go on when a referenced Secret or one of its keys is missing: the pods would crash-loop
     instead, after the migration Job already ran. */}}
{{- define "spe.requireSecrets" -}}
{{- if lookup "v1" "Namespace" "" .Release.Namespace }}
{{- $s := .Values.secrets }}
{{- $needed := list
    (list $s.database.name $s.database.key) (list $s.databaseAdmin.name $s.databaseAdmin.key)
    (list $s.databaseSigner.name $s.databaseSigner.key)
    (list $s.oidc.name $s.oidc.key) (list $s.storage.name $s.storage.accessKey)
    (list $s.storage.name $s.storage.secretKey) (list $s.keys.name "")
    (list $s.auditSigningKey.name $s.auditSigningKey.key) }}
{{- if eq .Values.keyStore.type "pkcs11" }}
{{- $needed = append $needed (list .Values.keyStore.pkcs11.pinSecret.name .Values.keyStore.pkcs11.pinSecret.key) }}
{{- end }}
{{- range $needed }}
{{- $secret := lookup "v1" "Secret" $.Release.Namespace (index . 0) }}
{{- if not $secret }}
{{- fail (printf "Secret %s/%s is missing: create it before installing (docs/production.md)" $.Release.Namespace (index . 0)) }}
{{- end }}
{{- if and (index . 1) (not (hasKey ($secret.data | default dict) (index . 1))) }}
{{- fail (printf "Secret %s/%s has no key %q" $.Release.Namespace (index . 0) (index . 1)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Names of the controller's two ClusterRoles: cluster-wide rights, and its rights inside
     a project namespace (bound there by the controller itself, never cluster-wide). */}}
{{- define "spe.controllerRole" -}}{{ include "spe.fullname" . }}-controller{{- end -}}
{{- define "spe.controllerProjectRole" -}}{{ include "spe.fullname" . }}-controller-project{{- end -}}
