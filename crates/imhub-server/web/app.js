// The inbox moved into ES modules under js/; this entry stays for old links.
import "./js/main.js";
