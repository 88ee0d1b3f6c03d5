package cni

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParseArgs(t *testing.T) {
	got, err := ParseArgs("IgnoreUnknown=1;K8S_POD_NAME=web-0;;K8S_POD_NAMESPACE=default;EMPTY=")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"IgnoreUnknown": "1", "K8S_POD_NAME": "web-0", "K8S_POD_NAMESPACE": "default", "EMPTY": ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if got, err := ParseArgs(""); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"novalue", "A=1;B", "=x"} {
		if _, err := ParseArgs(bad); err == nil {
			t.Errorf("ParseArgs(%q) succeeded", bad)
		}
	}
}

func TestParseNetConf(t *testing.T) {
	c, err := ParseNetConf([]byte(`{"cniVersion":"1.0.0","name":"n","type":"azure-ipam","cnsUrl":"http://a","ipam":{"type":"azure-ipam","cnsUrl":"http://b"}}`))
	if err != nil || c.CNSURL != "http://a" || c.IPAM.CNSURL != "http://b" || c.IPAM.Type != "azure-ipam" {
		t.Fatalf("%+v %v", c, err)
	}
	for in, code := range map[string]uint{
		``:                       CodeDecodingFailure,
		`{`:                      CodeDecodingFailure,
		`{"cniVersion":1}`:       CodeDecodingFailure,
		`{"name":"x"}`:           CodeInvalidNetworkConfig,
		`{"cniVersion":"0.2.0"}`: CodeIncompatibleVersion,
		`{"cniVersion":"9.9.9"}`: CodeIncompatibleVersion,
	} {
		_, err := ParseNetConf([]byte(in))
		if err == nil || err.Code != code || err.CNIVersion != SpecVersion {
			t.Errorf("ParseNetConf(%q) = %+v, want code %d", in, err, code)
		}
	}
}

func TestVersionInfoJSON(t *testing.T) {
	data, _ := json.Marshal(PluginVersionInfo())
	want := `{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}`
	if string(data) != want {
		t.Fatalf("got %s", data)
	}
}

func TestResultConvert(t *testing.T) {
	r := Result{IPs: []IPConfig{{Version: "4", Address: "10.0.0.4/24"}, {Address: "fd00::4/64", Gateway: "fd00::1"}}}
	v1, _ := json.Marshal(r.ConvertTo("1.0.0"))
	if string(v1) != `{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.4/24"},{"address":"fd00::4/64","gateway":"fd00::1"}]}` {
		t.Fatalf("1.0.0: %s", v1)
	}
	v04, _ := json.Marshal(r.ConvertTo("0.4.0"))
	if string(v04) != `{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.4/24"},{"version":"6","address":"fd00::4/64","gateway":"fd00::1"}]}` {
		t.Fatalf("0.4.0: %s", v04)
	}
	if r.IPs[1].Version != "" {
		t.Fatal("ConvertTo modified its receiver")
	}
}

func TestErrorJSON(t *testing.T) {
	data, _ := json.Marshal(NewError(CodeInvalidEnv, "bad env", ""))
	if string(data) != `{"cniVersion":"1.0.0","code":4,"msg":"bad env"}` {
		t.Fatalf("%s", data)
	}
	if NewError(1, "m", "d").Error() != "m: d" {
		t.Fatal("Error() format")
	}
}

func TestEnvFrom(t *testing.T) {
	m := map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/n", "CNI_IFNAME": "eth0", "CNI_ARGS": "a=b", "CNI_PATH": "/opt/cni/bin"}
	e := EnvFrom(func(k string) string { return m[k] })
	if e != (Env{"ADD", "c", "/n", "eth0", "a=b", "/opt/cni/bin"}) {
		t.Fatalf("%+v", e)
	}
}
