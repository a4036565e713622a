// Shared by the synth shaders: sky colour and fog. World frame: +Y is down, so "up" is -dir.y.
uniform vec3 u_sun_dir;      // unit, toward the sun
uniform vec3 u_sun_color;
uniform vec3 u_zenith;
uniform vec3 u_horizon;

// Sky colour seen along the unit world direction `dir`, without sun disc and clouds: also the fog colour,
// so distant geometry fades into exactly the sky behind it.
vec3 sky_color(vec3 dir) {
    float up = -dir.y;
    float t = clamp(up, 0.0, 1.0);
    vec3 c = mix(u_horizon, u_zenith, pow(t, 0.55));
    // below the horizon: a slightly darker haze
    c = mix(c, u_horizon * 0.85, smoothstep(0.0, -0.25, up));
    float s = max(dot(dir, u_sun_dir), 0.0);
    c += u_sun_color * (0.22 * pow(s, 6.0) + 0.25 * pow(s, 48.0));
    return c;
}

// Soft highlight roll-off above 0.75 (per channel): bright sunlit snow and concrete keep their shading
// instead of clipping to flat white; values below the knee are unchanged.
vec3 tonemap(vec3 c) {
    const float k = 0.75;
    vec3 over = max(c - k, 0.0);
    return min(c, vec3(k)) + (1.0 - k) * (1.0 - exp(-over / (1.0 - k)));
}
